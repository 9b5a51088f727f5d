// KEDA's ScaledJob (keda.sh/v1alpha1), typed from KEDA 2.20's documented spec (keda.sh/docs "ScaledJob
// specification", apis/keda/v1alpha1/scaledjob_types.go) for offline validation (test/helpers/k8s-schema.ts).
// The package @kubernetes-models/keda needs Node 22, and it checks types at run time but not unknown fields;
// here TypeScript's excess-property checks catch a misspelt field at every depth. jobTargetRef is
// Kubernetes' own JobSpec. Only the rabbitmq trigger is typed: it is the one wq works with.
import type { JobSpec } from 'kubernetes-types/batch/v1.js';
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';

export interface ScaledJob {
  apiVersion: 'keda.sh/v1alpha1';
  kind: 'ScaledJob';
  metadata?: ObjectMeta;
  spec: ScaledJobSpec;
}

export interface ScaledJobSpec {
  /** A batch/v1 JobSpec: every Job KEDA creates gets a copy. */
  jobTargetRef: JobSpec;
  /** Seconds between trigger checks. Default 30. */
  pollingInterval?: number;
  /** Completed Jobs to keep. Default 100. */
  successfulJobsHistoryLimit?: number;
  /** Failed Jobs to keep. Default 100. */
  failedJobsHistoryLimit?: number;
  /** The container whose env the trigger reads (hostFromEnv). Default: the first. */
  envSourceContainerName?: string;
  minReplicaCount?: number;
  /** At most this many Jobs created in one poll, running Jobs deducted. Default 100. */
  maxReplicaCount?: number;
  /** Deprecated: rollout.strategy. */
  rolloutStrategy?: 'default' | 'gradual';
  rollout?: { strategy?: 'default' | 'gradual'; propagationPolicy?: 'background' | 'foreground' };
  scalingStrategy?: ScalingStrategy;
  triggers: RabbitMQTrigger[];
}

export interface ScalingStrategy {
  strategy?: 'default' | 'custom' | 'accurate' | 'eager';
  customScalingQueueLengthDeduction?: number;
  /** A decimal as a string, e.g. "0.5". */
  customScalingRunningJobPercentage?: string;
  /** A Job is pending until its pod has all of these conditions True (e.g. [Ready]). */
  pendingPodConditions?: string[];
  multipleScalersCalculation?: 'max' | 'min' | 'avg' | 'sum';
}

export interface RabbitMQTrigger {
  type: 'rabbitmq';
  name?: string;
  metadata: RabbitMQMetadata;
  authenticationRef?: { name: string; kind?: 'TriggerAuthentication' | 'ClusterTriggerAuthentication' };
  useCachedMetrics?: boolean;
  metricType?: 'AverageValue' | 'Value';
}

/** KEDA's rabbitmq scaler metadata: every value is a string. */
export interface RabbitMQMetadata {
  /** amqp: the ready count from a passive queue.declare; http: the management API. */
  protocol?: 'amqp' | 'http' | 'auto';
  queueName: string;
  mode?: 'QueueLength' | 'MessageRate';
  value?: string;
  activationValue?: string;
  /** The name of an env variable of the envSourceContainerName container that holds the URL. */
  hostFromEnv?: string;
  host?: string;
  vhostName?: string;
  useRegex?: 'true' | 'false';
  excludeUnacknowledged?: 'true' | 'false';
  operation?: 'sum' | 'max' | 'avg';
  timeout?: string;
  unsafeSsl?: 'true' | 'false';
}
