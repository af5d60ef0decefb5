import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  mostCommonTorchDtype,
  parameterNamesHash,
  residualsConfig,
  shapesHash,
  type ResidualTensorShape,
} from '../../../src/engine/report/residuals-config';
import { TOOL_NAME } from '../../../src/engine/version';

const TENSORS: ResidualTensorShape[] = [
  { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'BF16', shape: [4096, 4096] },
  { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [32000, 4096] },
  { name: 'model.norm.weight', dtype: 'F32', shape: [4096] },
  { name: 'model.scale', dtype: 'F32', shape: [] },
  // Beyond the Basic Multilingual Plane: Python (code points) and JavaScript (UTF-16) sort these differently.
  { name: 'z.\u{1F600}', dtype: 'BF16', shape: [2, 3] },
  { name: 'z.\uFFFD', dtype: 'BF16', shape: [1] },
];

/** The package's formulas, as Python runs them (residuals/config.py), with the dataclass its loader uses. */
const PYTHON_REFERENCE = `
import hashlib, json, sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Union
@dataclass
class ResidualsConfig:
    residuals_version: str
    format: str
    dtype: str
    param_count: int
    shapes_hash: str
    parameter_names_hash: str
    tokenizer_name: Optional[str]
    created_at: str
    library: Dict[str, str]
    base_model_name: Optional[str] = None
    instruct_model_name: Optional[str] = None
    pipeline_tag: Optional[str] = None
    license: Optional[str] = None
    language: Optional[Union[str, List[str]]] = None
    tags: Optional[List[str]] = None
    base_model_relation: Optional[str] = None
data = json.load(sys.stdin)
shapes = {name: shape for name, shape in data["tensors"]}
names = sorted(shapes)
ResidualsConfig(**data["config"])
print(json.dumps({
    "parameter_names_hash": hashlib.sha256("|".join(names).encode()).hexdigest(),
    "shapes_hash": hashlib.sha256("|".join([f"{n}:{list(shapes[n])}" for n in names]).encode()).hexdigest(),
}))
`;

function python(): string | null {
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' });
    return 'python3';
  } catch {
    return null;
  }
}

/** A second, hand-written formula: sort by code points explicitly and write the list repr by hand. */
function handWritten(tensors: ResidualTensorShape[]): { names: string; shapes: string } {
  const codePoints = (text: string): number[] => Array.from(text, (character) => character.codePointAt(0) ?? 0);
  const sorted = [...tensors].sort((x, y) => {
    const a = codePoints(x.name);
    const b = codePoints(y.name);
    for (let index = 0; index < Math.min(a.length, b.length); index++) {
      if (a[index] !== b[index]) return (a[index] ?? 0) - (b[index] ?? 0);
    }
    return a.length - b.length;
  });
  const sha = (text: string): string => createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex');
  return {
    names: sha(sorted.map((tensor) => tensor.name).join('|')),
    shapes: sha(sorted.map((tensor) => `${tensor.name}:[${tensor.shape.map(String).join(', ')}]`).join('|')),
  };
}

describe('residualsConfig', () => {
  const createdAt = new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678));
  const config = residualsConfig({
    tensors: TENSORS,
    tokenizerName: 'mistralai/Mistral-7B-Instruct-v0.1',
    createdAt,
    baseModelName: 'mistralai/Mistral-7B-v0.1',
    instructModelName: 'mistralai/Mistral-7B-Instruct-v0.1',
    license: 'apache-2.0',
    tags: ['instruction-residual'],
  });

  it('has exactly the keys of the Python ResidualsConfig, and only those given', () => {
    assert.deepEqual(Object.keys(config), [
      'residuals_version', 'format', 'dtype', 'param_count', 'shapes_hash', 'parameter_names_hash', 'tokenizer_name',
      'created_at', 'library', 'base_model_name', 'instruct_model_name', 'license', 'tags',
    ]);
    assert.equal(config.residuals_version, '1.0');
    assert.equal(config.format, 'pytorch');
    assert.equal(config.dtype, 'bfloat16');
    assert.equal(config.param_count, 6);
    assert.equal(config.created_at, '2025-01-02T03:04:05.678+00:00');
    assert.deepEqual(config.library, { package: TOOL_NAME });
  });

  it('hashes like the hand-written formula', () => {
    const expected = handWritten(TENSORS);
    assert.equal(config.parameter_names_hash, expected.names);
    assert.equal(config.shapes_hash, expected.shapes);
    assert.equal(parameterNamesHash([...TENSORS].reverse()), expected.names);
    assert.equal(shapesHash([...TENSORS].reverse()), expected.shapes);
  });

  const interpreter = python();
  it('hashes like Python hashlib, and the Python dataclass accepts the object', { skip: interpreter === null ? 'python3 not installed' : false }, () => {
    const input = JSON.stringify({ tensors: TENSORS.map((tensor) => [tensor.name, tensor.shape]), config });
    const output = execFileSync(interpreter ?? 'python3', ['-c', PYTHON_REFERENCE], { input, encoding: 'utf8' });
    const reference = JSON.parse(output) as { parameter_names_hash: string; shapes_hash: string };
    assert.equal(config.parameter_names_hash, reference.parameter_names_hash);
    assert.equal(config.shapes_hash, reference.shapes_hash);
    // An extra key must break the Python loader, which is why the object holds no other keys.
    const extra = JSON.stringify({ tensors: [], config: { ...config, extra: 1 } });
    assert.throws(() => execFileSync(interpreter ?? 'python3', ['-c', PYTHON_REFERENCE], { input: extra, stdio: 'pipe' }));
  });

  it('names the most common dtype in torch spelling, ties going to the first tensor by name', () => {
    assert.equal(mostCommonTorchDtype([{ name: 'b', dtype: 'F16', shape: [] }, { name: 'a', dtype: 'F32', shape: [] }]), 'float32');
    assert.equal(mostCommonTorchDtype([]), 'float32');
    assert.equal(mostCommonTorchDtype([{ name: 'a', dtype: 'bfloat16', shape: [1] }]), 'bfloat16');
  });
});
