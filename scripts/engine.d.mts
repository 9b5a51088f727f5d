/** The cache directory scripts/image.sh uses (WQ_IMAGE_CACHE, else .cache/wq-image in the repository). */
export function imageCache(): string;
/** The engine npm run image built with: its command and the environment it needs. */
export function engine(): { cmd: 'docker' | 'podman'; env: Record<string, string> };
