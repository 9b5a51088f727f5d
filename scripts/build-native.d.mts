/** Compile the addon into dist/wq-spawn.node; false (with a warning) when it cannot be built here. */
export function buildNative(): boolean;
/** The newest glibc symbol version the addon needs ('2.15'), from objdump -T; undefined without objdump. */
export function glibcRequirement(file?: string): string | undefined;
