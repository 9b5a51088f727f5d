export declare const KNOWN: Record<string, { url: string; ctl: string[]; how: string; suites?: 'promise' }>;
export declare const DEFAULT_BROKERS: string;
export declare function testBrokers(env?: Record<string, string | undefined>): { name: string; url: string; ctl: string[]; how: string; suites?: 'promise' }[];
