/** Builds safetensors file bytes by hand, so tests can write headers no correct writer would. */
export function buildSafetensorsFile(headerJson: string, dataLength: number, options: { headerLength?: bigint } = {}): Uint8Array {
  const json = new TextEncoder().encode(headerJson);
  const bytes = new Uint8Array(8 + json.length + dataLength);
  new DataView(bytes.buffer).setBigUint64(0, options.headerLength ?? BigInt(json.length), true);
  bytes.set(json, 8);
  return bytes;
}

/** A header JSON with one tensor entry per item, offsets back to back unless given. */
export function headerJson(
  entries: Array<{ name: string; dtype: string; shape: unknown[]; offsets?: [unknown, unknown] }>,
  metadata?: Record<string, unknown>,
): string {
  const parts: string[] = metadata === undefined ? [] : [`"__metadata__":${JSON.stringify(metadata)}`];
  for (const entry of entries) {
    parts.push(`${JSON.stringify(entry.name)}:{"dtype":${JSON.stringify(entry.dtype)},"shape":[${entry.shape.join(',')}],`
      + `"data_offsets":[${(entry.offsets ?? [0, 0]).join(',')}]}`);
  }
  return `{${parts.join(',')}}`;
}
