/** The 22 safetensors dtypes, spelled exactly as the format spells them (upper case). */
export const DTYPES = [
  'BOOL', 'U8', 'I8', 'U16', 'I16', 'F16', 'BF16', 'U32', 'I32', 'F32', 'U64', 'I64', 'F64', 'C64',
  'F8_E4M3', 'F8_E5M2', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4',
] as const;

export type Dtype = (typeof DTYPES)[number];

/** Dtypes the kernels do arithmetic on; every other dtype is compared for equality and copied. */
export type FloatDtype = 'F16' | 'BF16' | 'F32' | 'F64';

export const DTYPE_BITS: Readonly<Record<Dtype, number>> = {
  BOOL: 8, U8: 8, I8: 8, U16: 16, I16: 16, F16: 16, BF16: 16, U32: 32, I32: 32, F32: 32,
  U64: 64, I64: 64, F64: 64, C64: 64,
  F8_E4M3: 8, F8_E5M2: 8, F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8, F8_E8M0: 8, F6_E2M3: 6, F6_E3M2: 6, F4: 4,
};

/** PyTorch's names, used in config.json files that the Python `residuals` package reads. */
export const TORCH_DTYPE_NAMES: Readonly<Partial<Record<Dtype, string>>> = {
  BOOL: 'bool', U8: 'uint8', I8: 'int8', U16: 'uint16', I16: 'int16', F16: 'float16', BF16: 'bfloat16',
  U32: 'uint32', I32: 'int32', F32: 'float32', U64: 'uint64', I64: 'int64', F64: 'float64',
  C64: 'complex64', F8_E4M3: 'float8_e4m3fn', F8_E5M2: 'float8_e5m2', F8_E4M3FNUZ: 'float8_e4m3fnuz',
  F8_E5M2FNUZ: 'float8_e5m2fnuz', F8_E8M0: 'float8_e8m0fnu',
};

const DTYPE_SET: ReadonlySet<string> = new Set(DTYPES);

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && DTYPE_SET.has(value);
}

export function isFloatDtype(dtype: Dtype): dtype is FloatDtype {
  return dtype === 'F16' || dtype === 'BF16' || dtype === 'F32' || dtype === 'F64';
}

/** Bytes per element for byte-aligned dtypes; sub-byte dtypes (F4, F6) have none. */
export function bytesPerElement(dtype: Dtype): number | undefined {
  const bits = DTYPE_BITS[dtype];
  return bits % 8 === 0 ? bits / 8 : undefined;
}
