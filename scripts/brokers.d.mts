export interface TestBroker {
  name: string;
  url: string;
  ctl: string[];
  how: string;
  suites?: 'promise' | 'cluster';
  /** The cluster: every node's URL, and scripts/rabbitmq-cluster.sh. */
  urls?: string[];
  script?: string;
}
export declare const KNOWN: Record<string, Omit<TestBroker, 'name'>>;
export declare const DEFAULT_BROKERS: string;
export declare function testBrokers(env?: Record<string, string | undefined>): TestBroker[];
export declare function clusterBroker(env?: Record<string, string | undefined>): TestBroker | undefined;
export declare function chosenBrokers(env?: Record<string, string | undefined>): TestBroker[];
