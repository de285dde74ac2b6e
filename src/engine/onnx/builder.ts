// A small ONNX graph builder over the generated protobuf classes of `onnx-proto`.
// Nodes are added in topological order; every helper returns the name of the
// value it produced, so graph code reads like the math it encodes.

import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;

export const DataType = onnx.TensorProto.DataType;
export type ElemType = 'float32' | 'int64' | 'float16' | 'bfloat16' | 'uint8';
const ELEM: Record<ElemType, number> = { float32: DataType.FLOAT, int64: DataType.INT64, float16: DataType.FLOAT16, bfloat16: DataType.BFLOAT16, uint8: DataType.UINT8 };

/** Opset of the default domain: ReduceMean still takes `axes` as an attribute here. */
export const OPSET = 17;

export type Dim = number | string;
export type AttrValue = number | number[] | string | { float: number };

/** Raw weight bytes stay in a file the runtime reads itself (ONNX external data). */
export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

function attribute(name: string, v: AttrValue): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if (typeof v === 'object') return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.INT, i: v };
}

function valueInfo(name: string, elem: ElemType, dims: Dim[]): IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: ELEM[elem], shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

export class GraphBuilder {
  private readonly nodes: INodeProto[] = [];
  private readonly initializers: ITensorProto[] = [];
  private readonly inputs: IValueInfoProto[] = [];
  private readonly outputs: IValueInfoProto[] = [];
  private readonly constCache = new Map<string, string>();
  private counter = 0;

  constructor(readonly name: string) {}

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Add a node; returns its output names (one unless `outputs` says more). */
  nodeN(opType: string, inputs: string[], outputs: number | string[], attrs: Record<string, AttrValue> = {}, domain?: string): string[] {
    const outNames = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : outputs;
    this.nodes.push({
      opType,
      domain: domain ?? '',
      name: this.fresh(`n_${opType}`),
      input: inputs,
      output: outNames,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outNames;
  }

  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputName?: string): string {
    return this.nodeN(opType, inputs, outputName ? [outputName] : 1, attrs)[0]!;
  }

  input(name: string, elem: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, elem, dims));
    return name;
  }

  /** Expose `value` as a graph output called `name` (through an Identity when the names differ). */
  output(value: string, name: string, elem: ElemType, dims: Dim[]): string {
    if (value !== name) this.node('Identity', [value], {}, name);
    this.outputs.push(valueInfo(name, elem, dims));
    return name;
  }

  initializer(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  /** Packed bytes (quantized weights). */
  initializerU8(name: string, dims: number[], data: Uint8Array): string {
    this.initializers.push({ name, dims, dataType: DataType.UINT8, rawData: data });
    return name;
  }

  /** A node of ONNX Runtime's contrib domain (com.microsoft); the model then imports that domain. */
  contrib(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    this.usesContrib = true;
    return this.nodeN(opType, inputs, 1, attrs, 'com.microsoft')[0]!;
  }

  private usesContrib = false;

  externalInitializer(name: string, dims: number[], elem: ElemType, ref: ExternalRef): string {
    this.initializers.push({
      name,
      dims,
      dataType: ELEM[elem],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: ref.location },
        { key: 'offset', value: String(ref.offset) },
        { key: 'length', value: String(ref.length) },
      ],
    });
    return name;
  }

  /** A small constant, added once per distinct (type, shape, values) and shared after. */
  private constant(elem: 'float32' | 'int64', values: number[], dims: number[]): string {
    const key = `${elem}:${dims.join('x')}:${values.join(',')}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.fresh(elem === 'float32' ? 'const_f' : 'const_i');
      this.initializers.push(elem === 'float32' ? { name, dims, dataType: DataType.FLOAT, floatData: values } : { name, dims, dataType: DataType.INT64, int64Data: values });
      this.constCache.set(key, name);
    }
    return name;
  }

  constF32(values: number[], dims: number[] = [values.length]): string {
    return this.constant('float32', values, dims);
  }

  constI64(values: number[], dims: number[] = [values.length]): string {
    return this.constant('int64', values, dims);
  }

  /** Serialise to ONNX ModelProto bytes. */
  encode(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'persona-probe',
      opsetImport: [{ domain: '', version: OPSET }, ...(this.usesContrib ? [{ domain: 'com.microsoft', version: 1 }] : [])],
      graph: { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
