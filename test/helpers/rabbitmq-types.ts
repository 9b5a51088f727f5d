// The RabbitMQ Cluster Operator's RabbitmqCluster (rabbitmq.com/v1beta1), typed from its API
// (api/v1beta1/rabbitmqcluster_types.go in rabbitmq/cluster-operator) for offline validation
// (test/helpers/k8s-schema.ts): a minimal shape, the fields a manifest in k8s/ may use, so that a
// misspelt or misplaced field fails the compile as it would fail the operator's schema.
import type { Affinity, ResourceRequirements, Toleration } from 'kubernetes-types/core/v1.js';
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';

export interface RabbitmqCluster {
  apiVersion: 'rabbitmq.com/v1beta1';
  kind: 'RabbitmqCluster';
  metadata?: ObjectMeta;
  spec: RabbitmqClusterSpec;
}

export interface RabbitmqClusterSpec {
  /** RabbitMQ nodes, each a pod of the operator's StatefulSet. The operator's default is 1; 1, 3 and 5 are tested upstream. */
  replicas?: number;
  /** The RabbitMQ image; the operator's default moves with its releases: pin it. */
  image?: string;
  imagePullSecrets?: Array<{ name: string }>;
  service?: { type?: 'ClusterIP' | 'LoadBalancer' | 'NodePort'; annotations?: Record<string, string> };
  persistence?: { storageClassName?: string; storage?: string };
  /** Per node; the operator's default is requests 1 CPU / 2Gi, limits 2 CPU / 2Gi. */
  resources?: ResourceRequirements;
  affinity?: Affinity;
  tolerations?: Toleration[];
  rabbitmq?: {
    additionalPlugins?: string[];
    /** Lines added to rabbitmq.conf (at most 2000 characters). */
    additionalConfig?: string;
    advancedConfig?: string;
    envConfig?: string;
  };
  tls?: { secretName?: string; caSecretName?: string; disableNonTLSListeners?: boolean };
  /** Seconds the operator gives a node to stop (default 604800: quorum queues hand over leadership first). */
  terminationGracePeriodSeconds?: number;
  skipPostDeploySteps?: boolean;
}
