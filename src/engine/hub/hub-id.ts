import { SurgeonError } from '../errors';

/** A model on the Hugging Face Hub: `org/name`, optionally at a branch, tag or commit. */
export interface HubId {
  /** `org/name`, or a legacy single-segment name such as `gpt2`. */
  repo: string;
  /** Branch, tag, `refs/pr/N` or commit hash; undefined means the default branch `main`. */
  revision?: string;
}

export const DEFAULT_REVISION = 'main';

/** The Hub's own limit on repository ids (huggingface_hub `validate_repo_id`). */
const MAX_REPO_ID_LENGTH = 96;
/** Git refuses longer ref names on most file systems; the Hub's branches stay far below. */
const MAX_REVISION_LENGTH = 255;

/** One part of a repo id: letters, digits, `_`, `-`, `.`; starts and ends with a letter, digit or `_`. */
const REPO_SEGMENT = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
/** A branch, tag, PR ref or commit hash: the same characters plus `/` between parts. */
const REVISION = /^[A-Za-z0-9_](?:[A-Za-z0-9_./-]*[A-Za-z0-9_])?$/;

/**
 * Parses `org/name[@revision]` strictly. Anything that could escape a folder once joined into a
 * cache path (`..`, backslashes, absolute paths) or that the Hub itself refuses is rejected here,
 * before any file system or network access.
 */
export function parseHubId(text: string): HubId {
  const at = text.indexOf('@');
  const repo = at === -1 ? text : text.slice(0, at);
  const revision = at === -1 ? undefined : text.slice(at + 1);
  const refuse = (why: string): never => {
    throw new SurgeonError('usage', `${JSON.stringify(text)} is not a Hugging Face model id (org/name[@revision]): ${why}`);
  };

  if (repo.length === 0) refuse('the id is empty');
  if (repo.length > MAX_REPO_ID_LENGTH) refuse(`ids are at most ${MAX_REPO_ID_LENGTH} characters`);
  const segments = repo.split('/');
  if (segments.length > 2) refuse('an id has at most one "/"');
  for (const segment of segments) {
    if (!REPO_SEGMENT.test(segment)) {
      refuse('use letters, digits, "_", "-" and "." only, starting and ending with a letter or digit');
    }
  }
  // The cache folder name joins the parts with "--", so "--" inside a name would be ambiguous.
  if (repo.includes('--') || repo.includes('..')) refuse('"--" and ".." are not allowed');

  if (revision !== undefined) {
    if (revision.length === 0) refuse('the revision after "@" is empty');
    if (revision.length > MAX_REVISION_LENGTH) refuse(`revisions are at most ${MAX_REVISION_LENGTH} characters`);
    if (!REVISION.test(revision) || revision.includes('..') || revision.includes('//')) {
      refuse('the revision must be a branch, tag or commit hash (letters, digits, "_", "-", ".", "/")');
    }
    return { repo, revision };
  }
  return { repo };
}

/** Formats an id back to `org/name[@revision]`. */
export function formatHubId(id: HubId): string {
  return id.revision === undefined ? id.repo : `${id.repo}@${id.revision}`;
}

/** A full git commit hash, the only revision that never moves. */
export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}
