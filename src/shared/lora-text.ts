import type { InspectLora, LoraLeftOut } from './jobs';
import { formatCount } from './quantities';

/** `a PEFT LoRA adapter (14 modules, rank 8) for meta-llama/Llama-3.1-8B`: how inspect names an adapter, in the terminal and the viewer. */
export function loraAdapterWords(lora: InspectLora): string {
  const ranks = lora.ranks.length === 0 ? 'no modules' : rankRangeWords(lora.ranks);
  const plural = (count: number, noun: string): string => `${formatCount(count)} ${noun}${count === 1 ? '' : 's'}`;
  const saved = lora.savedTensors > 0 ? `, ${plural(lora.savedTensors, 'tensor')} saved whole` : '';
  return `a PEFT LoRA adapter (${plural(lora.modules, 'module')}, ${ranks}${saved})${lora.baseModel ? ` for ${lora.baseModel}` : ''}`;
}

/** `rank 8` when every module has the same rank, else `ranks 4 to 64`; `ranks` need not be sorted. */
export function rankRangeWords(ranks: readonly number[]): string {
  const low = Math.min(...ranks);
  const high = Math.max(...ranks);
  return low === high ? `rank ${low}` : `ranks ${low} to ${high}`;
}

/** The tensors an adapter left out for one reason, and their share of the residual's energy. */
export interface LeftOutGroup {
  reason: LoraLeftOut['reason'];
  tensors: number;
  energyShare: number;
}

/** What an adapter leaves out, one group per reason, the most energy first: the card, the terminal and the view list these. */
export function leftOutGroups(leftOut: readonly LoraLeftOut[]): LeftOutGroup[] {
  const groups = new Map<LoraLeftOut['reason'], LeftOutGroup>();
  for (const entry of leftOut) {
    const group = groups.get(entry.reason) ?? { reason: entry.reason, tensors: 0, energyShare: 0 };
    group.tensors += 1;
    group.energyShare += entry.energyShare;
    groups.set(entry.reason, group);
  }
  return [...groups.values()].sort((x, y) => y.energyShare - x.energyShare || y.tensors - x.tensors);
}
