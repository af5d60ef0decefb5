/**
 * The ONNX model the onnxruntime-node backend runs: one Gemm node, C = op(A) @ B, with dynamic
 * dimensions so one session serves every matrix size. onnxruntime-node only loads models, it
 * cannot build them, so the few protobuf messages needed are encoded here by hand (field numbers
 * from onnx/onnx.proto3).
 */

/** IR version 8 (ONNX 1.10) and opset 13 are old enough for every onnxruntime release we accept. */
const ONNX_IR_VERSION = 8;
const ONNX_OPSET_VERSION = 13;
const TENSOR_ELEMENT_TYPE = { float: 1, double: 11 } as const;
const ATTRIBUTE_TYPE_FLOAT = 1;
const ATTRIBUTE_TYPE_INT = 2;

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

export const GEMM_INPUT_A = 'A';
export const GEMM_INPUT_B = 'B';
export const GEMM_OUTPUT = 'C';
/** The third input of a subtracting Gemm: the matrix the product is taken from. */
export const GEMM_INPUT_MINUEND = 'Y';

export type GemmElementType = keyof typeof TENSOR_ELEMENT_TYPE;

/** A protobuf message under construction: an ordered list of encoded fields. */
class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];

  varint(field: number, value: number): this {
    this.chunks.push(encodeVarint((field << 3) | WIRE_VARINT), encodeVarint(value));
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.chunks.push(encodeVarint((field << 3) | WIRE_LENGTH_DELIMITED), encodeVarint(value.length), value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  float32(field: number, value: number): this {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.chunks.push(encodeVarint((field << 3) | WIRE_FIXED32), bytes);
    return this;
  }

  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  finish(): Uint8Array {
    const length = this.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const out = new Uint8Array(length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/** Non-negative integers only: every value this encoder writes is a small field, size or enum. */
function encodeVarint(value: number): Uint8Array {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return Uint8Array.from(out);
}

/** ValueInfoProto of a 2-D tensor whose dimensions are named, not fixed. */
function matrixValueInfo(name: string, rowsParam: string, colsParam: string, elementType: GemmElementType): ProtoWriter {
  const shape = new ProtoWriter()
    .message(1, new ProtoWriter().string(2, rowsParam))
    .message(1, new ProtoWriter().string(2, colsParam));
  const tensorType = new ProtoWriter().varint(1, TENSOR_ELEMENT_TYPE[elementType]).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

/**
 * ModelProto bytes of C = op(A) @ B where op transposes A when `transposeA` is set. Gemm's transA
 * lets the provider read A transposed in place (BLAS trans flag) instead of materialising A^T.
 */
export function encodeGemmModel(transposeA: boolean): Uint8Array {
  return encodeGemm({ elementType: 'float', transposeA, transposeB: false, subtractFrom: false });
}

export interface GemmModelOptions {
  elementType: GemmElementType;
  transposeA: boolean;
  transposeB: boolean;
  /** C = Y - op(A) @ op(B), with Y the third input (Gemm's alpha -1, beta 1), instead of the product alone. */
  subtractFrom: boolean;
}

/** ModelProto bytes of one Gemm node, C = [Y -] op(A) @ op(B), with named dimensions M, K, N. */
export function encodeGemm(options: GemmModelOptions): Uint8Array {
  const { elementType, transposeA, transposeB, subtractFrom } = options;
  const intAttribute = (name: string, value: boolean) =>
    new ProtoWriter().string(1, name).varint(3, value ? 1 : 0).varint(20, ATTRIBUTE_TYPE_INT);
  const node = new ProtoWriter().string(1, GEMM_INPUT_A).string(1, GEMM_INPUT_B);
  if (subtractFrom) node.string(1, GEMM_INPUT_MINUEND);
  node.string(2, GEMM_OUTPUT).string(3, 'gemm').string(4, 'Gemm')
    .message(5, intAttribute('transA', transposeA))
    .message(5, intAttribute('transB', transposeB));
  if (subtractFrom) node.message(5, new ProtoWriter().string(1, 'alpha').float32(2, -1).varint(20, ATTRIBUTE_TYPE_FLOAT));
  const graph = new ProtoWriter()
    .message(1, node)
    .string(2, `gemm_${elementType}${transposeA ? '_ta' : ''}${transposeB ? '_tb' : ''}${subtractFrom ? '_sub' : ''}`)
    .message(11, transposeA ? matrixValueInfo(GEMM_INPUT_A, 'K', 'M', elementType) : matrixValueInfo(GEMM_INPUT_A, 'M', 'K', elementType))
    .message(11, transposeB ? matrixValueInfo(GEMM_INPUT_B, 'N', 'K', elementType) : matrixValueInfo(GEMM_INPUT_B, 'K', 'N', elementType));
  if (subtractFrom) graph.message(11, matrixValueInfo(GEMM_INPUT_MINUEND, 'M', 'N', elementType));
  graph.message(12, matrixValueInfo(GEMM_OUTPUT, 'M', 'N', elementType));
  return new ProtoWriter()
    .varint(1, ONNX_IR_VERSION)
    .string(2, 'checkpoint-surgeon')
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').varint(2, ONNX_OPSET_VERSION))
    .finish();
}
