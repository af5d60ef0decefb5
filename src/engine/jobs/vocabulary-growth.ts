import { addedTokenNames, type TokenizerFiles } from '../report/tokenizer-diff';
import type { VocabularyGrowth } from '../../shared/jobs';
import type { TensorPair } from './pair-tensors';

/** The tensors whose rows were grown with zeros, and which tokens the new rows are. */
export function vocabularyGrowth(pairs: readonly TensorPair[], tokenizer: TokenizerFiles | null): VocabularyGrowth[] {
  return pairs.flatMap((pair) => {
    if (!pair.growth || !pair.comparable) return [];
    const { fromRows, toRows } = pair.growth;
    return [{ tensor: pair.name, fromRows, toRows, addedTokens: tokenizer ? addedTokenNames(tokenizer, fromRows, toRows) : [] }];
  });
}
