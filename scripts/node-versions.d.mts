export declare const NODE_VERSIONS: Record<'22' | '24', string>;
export declare function nodeCache(env?: NodeJS.ProcessEnv): string;
export declare function nodeDir(version: string, env?: NodeJS.ProcessEnv): string;
export declare function nodeBinary(version: string, env?: NodeJS.ProcessEnv): string;
export declare function testNodes(env?: NodeJS.ProcessEnv): Array<{ major: string; version: string; node: string }>;
export declare function fetchNode(version: string, env?: NodeJS.ProcessEnv): string;
