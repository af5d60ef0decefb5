import { HUB_URL } from '@huggingface/hub';

/** The Hub to talk to: an explicit URL, else `HF_ENDPOINT` as huggingface_hub honours it, else the public Hub. */
export function hubEndpoint(explicit?: string): string {
  return explicit ?? (process.env['HF_ENDPOINT']?.trim().replace(/\/+$/, '') || HUB_URL);
}
