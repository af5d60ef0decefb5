/**
 * The rank prompt of Export as LoRA Adapter, apart from `vscode` so it is unit-tested in Node: the choices (one
 * rank for every matrix, or each matrix's rank by the share of its energy it must carry), the custom rank's check
 * as the user types, the ranks in words, and the output folder's suggested name.
 */
import { DEFAULT_LORA_MAX_RANK, DEFAULT_LORA_RANK, MAX_LORA_RANK } from '../shared/defaults';
import type { LoraRankChoice } from '../shared/jobs';

/** One rank for every matrix: the ranks PEFT users pick, powers of two around the default. */
const UNIFORM_RANKS = [8, 16, 32, 64, 128, 256] as const;
/** Shares of each matrix's squared Frobenius norm: its rank is the smallest that carries it, capped. */
const ENERGY_SHARES = [0.9, 0.95, 0.99] as const;

export interface RankChoiceItem {
  label: string;
  description: string;
  /** What the job is given; `custom` asks for a rank next. */
  ranks: LoraRankChoice | 'custom';
  /** The item the prompt starts on (DEFAULT_LORA_RANK). */
  isDefault: boolean;
}

export function rankChoiceItems(): RankChoiceItem[] {
  return [
    ...UNIFORM_RANKS.map((rank) => ({
      label: `Rank ${rank}`,
      description: rank === DEFAULT_LORA_RANK ? 'one rank for every matrix (the default)' : 'one rank for every matrix',
      ranks: { rank },
      isDefault: rank === DEFAULT_LORA_RANK,
    })),
    ...ENERGY_SHARES.map((energy) => ({
      label: `By energy: ${percent(energy)}`,
      description: `each matrix's smallest rank that carries ${percent(energy)} of its energy, at most ${DEFAULT_LORA_MAX_RANK}`,
      ranks: { energy, maxRank: DEFAULT_LORA_MAX_RANK },
      isDefault: false,
    })),
    { label: 'Custom rank...', description: `one rank for every matrix, 1 to ${MAX_LORA_RANK}`, ranks: 'custom', isDefault: false },
  ];
}

/** Why a typed rank is refused, or undefined when it is one. */
export function customRankProblem(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return `Enter a rank from 1 to ${MAX_LORA_RANK}, e.g. ${DEFAULT_LORA_RANK}.`;
  if (!/^\d+$/u.test(trimmed)) return `"${trimmed}" is not a whole number; enter a rank from 1 to ${MAX_LORA_RANK}.`;
  const rank = Number(trimmed);
  if (rank < 1 || rank > MAX_LORA_RANK) return `The rank must be from 1 to ${MAX_LORA_RANK}, not ${trimmed}.`;
  return undefined;
}

/** The ranks in words, for titles: `rank 16`, `95% of each matrix's energy, rank at most 128`. */
export function describeRanks(ranks: LoraRankChoice): string {
  return 'rank' in ranks ? `rank ${ranks.rank}` : `${percent(ranks.energy)} of each matrix's energy, rank at most ${ranks.maxRank}`;
}

/** The suggested output folder: `<source>-lora-r16`, or `<source>-lora-e95` for ranks by energy. */
export function loraFolderName(source: string, ranks: LoraRankChoice): string {
  return 'rank' in ranks ? `${source}-lora-r${ranks.rank}` : `${source}-lora-e${Number((ranks.energy * 100).toPrecision(6))}`;
}

function percent(share: number): string {
  return `${Number((share * 100).toPrecision(6))}%`;
}
