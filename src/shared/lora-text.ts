import type { InspectLora } from './jobs';
import { formatCount } from './quantities';

/** `a PEFT LoRA adapter (14 modules, rank 8) for meta-llama/Llama-3.1-8B`: how inspect names an adapter, in the terminal and the viewer. */
export function loraAdapterWords(lora: InspectLora): string {
  const ranks = lora.ranks.length === 0 ? 'no modules' : lora.ranks.length === 1 ? `rank ${lora.ranks[0]}` : `ranks ${lora.ranks[0]} to ${lora.ranks.at(-1)}`;
  const plural = (count: number, noun: string): string => `${formatCount(count)} ${noun}${count === 1 ? '' : 's'}`;
  const saved = lora.savedTensors > 0 ? `, ${plural(lora.savedTensors, 'tensor')} saved whole` : '';
  return `a PEFT LoRA adapter (${plural(lora.modules, 'module')}, ${ranks}${saved})${lora.baseModel ? ` for ${lora.baseModel}` : ''}`;
}
