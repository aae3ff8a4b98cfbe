/** `org/name`: a Hugging Face Hub model id (the shape resolveModelPath also accepts). */
const HUB_REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export function isHubRepoId(model: string): boolean {
  return HUB_REPO_ID.test(model);
}

/** A model repository's folder in the cache, as huggingface_hub names it: `models--org--name`. */
export function repoFolderName(repoId: string): string {
  return `models--${repoId.replace('/', '--')}`;
}
