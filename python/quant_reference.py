#!/usr/bin/env python3
"""An independent reference for a quantized vitrt plan: the FP32 ONNX model with vitrt's
quantization written into it as float ops, evaluated by ONNX Runtime.

`vitrt build --precision int8|fp8 --verbose` logs, for each linear layer it quantizes, the ONNX
node, its input's scale and the weights' form:

  [quantize_linear] Linear 'NODE' -> int8 (...): input amax A by M, scale S; weights per channel
  [quantize_linear] Linear 'NODE' -> fp8 (...): input amax A by M, scale S; weights per tensor,
      scale W

This script reads those lines and rewrites the ONNX model so that each such node computes what
the contract of vitrt.QuantLinear says (src/ir/ops/quant_linear.cc), in float:

  int8  its input x becomes clip(round_half_even(x / S), -127, 127) * S; its weights are rounded
        per output channel to clip(rint(w / s_n), -127, 127) * s_n, s_n = max|w_n| / 127;
  fp8   its input becomes e4m3(x / S) * S (nearest even, saturating at +-448); its weights
        e4m3(w / s) * s with s = max|w| / 448 over the node's weights.

Everything else stays FP32, so ONNX Runtime's outputs are what a plan with those quantization
decisions should give up to summation order: the quantized kernels, the graph rewrites around
them (codes kept between layers, selected rows, fused epilogues) and the calibration's use of
its scales are checked against it, where the FP32 model only says how much quantization cost.

Logged layers that vitrt's rewrites renamed map back to the model's nodes: a packed q, k, v
projection (`NODE_qkv`: the three MatMuls reading NODE's input), fuse_attention's batch-first
out_proj copy (`NODE_batch_first`), an upsampling ConvTranspose lowered to a 1x1 Conv
(`NODE_1x1`: one channel per output map and kernel position) and a recurrent node's input
projection per direction (`NODE_d<d>_XW`: its X once, its W per gate row or per direction).
Weights computed from initializers (a Transpose, a Split of a packed in-projection) are
evaluated with onnx.reference. A layer it cannot place is an error, never a silent skip.

Int8 weights are exact even where vitrt folded a per-output-channel factor into them (BatchNorm,
a layer scale, the attention scale: per-channel rounding commutes with it). fp8's one scale per
tensor sees the weights as vitrt quantized them: over the three parts of a packed q, k, v, and
times the factor vitrt folded in (a constant Mul or Div after the node, through its bias Add and
a Transpose, or the BatchNormalization after a Conv) where the logged scale shows it did; a
factor it cannot find leaves the logged scale on the unfolded weights, which is only close.

Scales are read as logged (six significant digits), so an element lying within that rounding of
a quantization step's edge may land one step away: a few in a million. `rewrite`'s scale_factor
and jitter_seed make perturbed copies that show how far such noise carries through a model.

  python3 python/quant_reference.py MODEL.onnx BUILD.log OUT.onnx
"""

import argparse
import re
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

LINE = re.compile(r"\[quantize_linear\] Linear '(?P<node>[^']+)' -> (?P<fmt>int8|fp8) \([^)]*\): "
                  r"input amax \S+ by [^,]+, scale (?P<scale>[0-9.eE+-]+); weights "
                  r"(?:per channel|per tensor, scale (?P<wscale>[0-9.eE+-]+))")
E4M3_MAX = 448.0
RECURRENT = ("LSTM", "GRU", "RNN")


def e4m3_round(x):
    """float32 array -> the nearest E4M3 values (ties to even, saturating at +-448), float32."""
    x = np.asarray(x, np.float32).astype(np.float64)
    a = np.abs(x)
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    e = np.maximum(e, -6.0)  # subnormals: steps of 2^-9
    step = np.exp2(e - 3.0)
    q = np.round(x / step) * step  # numpy rounds half to even
    return np.clip(q, -E4M3_MAX, E4M3_MAX).astype(np.float32)


def fp8_weight_scale(amax):
    amax = np.float32(amax)
    return amax / np.float32(E4M3_MAX) if amax > 0 else np.float32(1.0)


def quantize_weights(w, fmt, channel_axes, fp8_scale=None):
    """The weights vitrt's QuantLinear multiplies by, in float32 (see the module doc); fp8
    takes the tensor's own scale unless `fp8_scale` gives one (a packed matrix's)."""
    w = np.asarray(w, np.float32)
    if fmt == "int8":
        axes = tuple(a for a in range(w.ndim) if a not in channel_axes)
        s = np.max(np.abs(w), axis=axes, keepdims=True).astype(np.float32)
        s = np.where(s > 0, s / np.float32(127.0), np.float32(1.0)).astype(np.float32)
        return (np.clip(np.rint(w / s), -127, 127) * s).astype(np.float32)
    s = fp8_weight_scale(np.max(np.abs(w)) if w.size else 0) if fp8_scale is None else fp8_scale
    return (e4m3_round(w / s) * s).astype(np.float32)


class Rewriter:
    def __init__(self, model):
        self.model = model
        self.graph = model.graph
        self.inits = {t.name: t for t in self.graph.initializer}
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.by_name = {n.name: n for n in self.graph.node}
        self.counter = 0
        self.new_nodes = []  # (insert before this node, nodes)
        self.replaced = set()  # weights the quantized copies replace
        self.folded = {}  # values computed from initializers

    def unique(self, base):
        self.counter += 1
        return f"{base}__vq{self.counter}"

    def constant(self, name, depth=0):
        """The constant value `name`: an initializer, or the output of nodes computed from
        initializers alone (a Transpose of the weights, a Split of a packed in-projection, ...),
        evaluated by onnx.reference; None when it depends on an input."""
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        if name in self.folded:
            return self.folded[name]
        p = self.producer.get(name)
        if p is None or depth > 16 or p.op_type in ("RandomNormal", "RandomUniform"):
            return None
        values = {}
        for i in p.input:
            if not i:
                continue
            v = self.constant(i, depth + 1)
            if v is None:
                return None
            values[i] = v
        from onnx.reference import ReferenceEvaluator

        graph = helper.make_graph(
            [p], "const", [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(
                v.dtype), v.shape) for i, v in values.items()],
            [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
             for o in p.output if o])
        one = helper.make_model(graph, opset_imports=list(self.model.opset_import))
        outs = ReferenceEvaluator(one).run(None, values)
        for o, v in zip([o for o in p.output if o], outs):
            self.folded[o] = np.asarray(v)
        return self.folded.get(name)

    def consumers(self, value):
        return [n for n in self.graph.node if value in n.input]

    def output_factor(self, node):
        """The per-output-channel factor vitrt folds into the node's weights (optimizer passes
        fold_scale_into_weights and fold_batch_norm): a constant Mul / Div after the node (and
        its bias Add), or the BatchNormalization after a Conv; None when there is none."""
        if node.op_type == "ConvTranspose":
            return None
        out = node.output[0]
        # Where the output channels are, counted from the last axis (MatMul / Gemm: the last);
        # a Transpose moves them (ConvNeXt's layer scale multiplies after the permute back to
        # NCHW, which vitrt's layout passes see through).
        pos = -1
        for _ in range(3):
            users = self.consumers(out)
            if len(users) != 1:
                return None
            u = users[0]
            if u.op_type == "Add" and node.op_type != "Conv":
                other = [i for i in u.input if i != out]
                if len(other) != 1 or self.constant(other[0]) is None:
                    return None
                out = u.output[0]
                continue
            if u.op_type == "Transpose" and node.op_type != "Conv":
                perm = next((list(a.ints) for a in u.attribute if a.name == "perm"), None)
                if perm is None:
                    return None
                r = len(perm)
                pos = perm.index(r + pos) - r
                out = u.output[0]
                continue
            if u.op_type in ("Mul", "Div") and node.op_type != "Conv":
                other = [i for i in u.input if i != out]
                c = self.constant(other[0]) if len(other) == 1 else None
                if c is None or (u.op_type == "Div" and u.input[0] != out):
                    return None
                c = np.asarray(c, np.float32)
                axis = c.ndim + pos
                if axis < 0:  # the constant does not reach the channels: one factor
                    if c.size != 1:
                        return None
                    c = c.reshape(1)
                else:
                    if any(d != 1 for k, d in enumerate(c.shape) if k != axis):
                        return None
                    c = c.reshape(-1)
                return 1.0 / c if u.op_type == "Div" else c
            if u.op_type == "BatchNormalization" and node.op_type == "Conv":
                scale, _b, _mean, var = (self.constant(i) for i in u.input[1:5])
                if scale is None or var is None:
                    return None
                eps = next((a.f for a in u.attribute if a.name == "epsilon"), 1e-5)
                return (scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)).astype(
                    np.float32)
            return None
        return None

    def add_initializer(self, base, array):
        name = self.unique(base)
        t = numpy_helper.from_array(np.asarray(array), name)
        self.graph.initializer.append(t)
        self.inits[name] = t
        return name

    def weight_slot(self, node):
        """(input index, the weights' output-channel axes as a function of their rank), or
        raise. A ConvTranspose upsampler (kernel = stride, which vitrt lowers to a 1x1 Conv and
        DepthToSpace) has one output channel per (output map, kernel position)."""
        if node.op_type == "MatMul":
            return 1, lambda nd: (nd - 1,)
        if node.op_type == "Gemm":
            attrs = {a.name: a for a in node.attribute}
            if "transA" in attrs and attrs["transA"].i:
                raise ValueError(f"Gemm '{node.name}' has transA")
            trans_b = "transB" in attrs and attrs["transB"].i
            return 1, (lambda nd: (0,)) if trans_b else (lambda nd: (1,))
        if node.op_type == "Conv":
            return 1, lambda nd: (0,)
        if node.op_type == "ConvTranspose":
            return 1, lambda nd: tuple(range(1, nd))
        if node.op_type in RECURRENT:  # W [directions, gates x hidden, input]
            return 1, lambda nd: (0, 1)
        raise ValueError(f"node '{node.name}' is a {node.op_type}, not MatMul / Gemm / Conv / "
                         "ConvTranspose")

    def fake_quant_input(self, node, fmt, scale, jitter=None):
        """Inserts the input's quantization before `node` (its input 0 rewired). `jitter`
        (a numpy Generator, magnitude): first add a random offset per input channel of about
        magnitude x the quantization's range, as float32 arithmetic in another order would."""
        x = node.input[0]
        base = self.unique(x + "_fq")
        s = self.add_initializer(base + "_s", np.array(scale, np.float32))
        nodes = []

        def op(op_type, inputs, **attrs):
            out = self.unique(base + "_" + op_type)
            nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
            return out

        if jitter is not None:
            rng, magnitude = jitter
            w = self.weights(node)
            if node.op_type == "Conv":  # X [N, C, spatial...]: C = W's dim 1 x groups
                groups = next((a.i for a in node.attribute if a.name == "group"), 1)
                shape = [w.shape[1] * groups] + [1] * (w.ndim - 2)
            elif node.op_type == "ConvTranspose":  # W [C, Cout, k...]
                shape = [w.shape[0]] + [1] * (w.ndim - 2)
            elif node.op_type in RECURRENT:  # X [..., input]
                shape = [w.shape[2]]
            else:  # MatMul / Gemm: X's last axis is K, the weights' non-channel axis
                _slot, channels = self.weight_slot(node)
                shape = [w.shape[1 if channels(w.ndim) == (0,) else 0]]
            qmax = 127.0 if fmt == "int8" else E4M3_MAX
            offsets = rng.standard_normal(shape).astype(np.float32) * np.float32(
                magnitude * scale * qmax)
            x = op("Add", [x, self.add_initializer(base + "_jitter", offsets)])
        y = op("Div", [x, s])
        if fmt == "int8":
            lo = self.add_initializer(base + "_lo", np.array(-127.0, np.float32))
            hi = self.add_initializer(base + "_hi", np.array(127.0, np.float32))
            q = op("Clip", [op("Round", [y]), lo, hi])
        else:
            ln2 = self.add_initializer(base + "_ln2", np.array(np.log(2.0), np.float32))
            tiny = self.add_initializer(base + "_tiny", np.array(1e-30, np.float32))
            emin = self.add_initializer(base + "_emin", np.array(-6.0, np.float32))
            three = self.add_initializer(base + "_three", np.array(3.0, np.float32))
            two = self.add_initializer(base + "_two", np.array(2.0, np.float32))
            lo = self.add_initializer(base + "_lo", np.array(-E4M3_MAX, np.float32))
            hi = self.add_initializer(base + "_hi", np.array(E4M3_MAX, np.float32))
            a = op("Max", [op("Abs", [y]), tiny])
            e = op("Max", [op("Floor", [op("Div", [op("Log", [a]), ln2])]), emin])
            step = op("Pow", [two, op("Sub", [e, three])])
            q = op("Clip", [op("Mul", [op("Round", [op("Div", [y, step])]), step]), lo, hi])
        out = op("Mul", [q, s])
        self.new_nodes.append((node, nodes))
        node.input[0] = out

    def weights(self, node):
        slot, _axis = self.weight_slot(node)
        w = self.constant(node.input[slot])
        if w is None:
            raise ValueError(f"node '{node.name}': its weights '{node.input[slot]}' are not a "
                             "constant")
        return w

    def channel_factor(self, node, w, factor):
        """`factor` (one value per output channel) shaped to broadcast against the weights."""
        _slot, channels = self.weight_slot(node)
        shape = [1] * w.ndim
        shape[channels(w.ndim)[0]] = -1
        return np.asarray(factor, np.float32).reshape(shape)

    def replace_weights(self, node, slot, q):
        old = node.input[slot]
        node.input[slot] = self.add_initializer(old + "_q", q.astype(np.float32))
        self.replaced.add(old)

    def quantize_node_weights(self, node, fmt, fp8_scale=None, factor=None):
        """`factor`: a per-output-channel factor vitrt folded into the weights before it
        quantized them (fp8's one scale then sees W * factor)."""
        slot, channels = self.weight_slot(node)
        w = self.weights(node).astype(np.float32)
        axes = channels(w.ndim)
        if factor is not None:
            f = self.channel_factor(node, w, factor)
            q = quantize_weights(w * f, fmt, axes, fp8_scale) / f
        else:
            q = quantize_weights(w, fmt, axes, fp8_scale)
        self.replace_weights(node, slot, q)

    def quantize_recurrent_weights(self, node, fmt, directions):
        """The input weights W [D, G*H, I] of the listed directions, as lower_recurrent's
        QuantLinear takes them: per gate row for int8, one scale per direction for fp8."""
        w = self.weights(node).astype(np.float32)
        q = w.copy()
        for d in directions:
            q[d] = quantize_weights(w[d], fmt, (0,))
        self.replace_weights(node, 1, q)

    def folded_amax(self, node, factor):
        w = self.weights(node).astype(np.float32)
        if factor is not None:
            w = w * self.channel_factor(node, w, factor)
        return float(np.max(np.abs(w)))

    def targets(self, name):
        """The ONNX nodes a logged layer name stands for: the node itself (NODE_batch_first: the
        node), or for a packed `NODE_qkv` the MatMul / Gemm nodes that read NODE's input with
        constant weights."""
        if name in self.by_name:
            return [self.by_name[name]]
        # fuse_attention's copy of a sequence-first out_proj reading batch-first rows (the same
        # values in another order).
        if name.endswith("_batch_first") and name[:-len("_batch_first")] in self.by_name:
            return [self.by_name[name[:-len("_batch_first")]]]
        # lower_conv_transpose's 1x1 Conv of an upsampling ConvTranspose.
        if name.endswith("_1x1") and name[:-len("_1x1")] in self.by_name:
            return [self.by_name[name[:-len("_1x1")]]]
        if name.endswith("_qkv") and name[:-4] in self.by_name:
            x = self.by_name[name[:-4]].input[0]
            found = [n for n in self.graph.node if n.op_type in ("MatMul", "Gemm")
                     and n.input and n.input[0] == x and self.constant(n.input[1]) is not None]
            if len(found) == 3:
                return found
        raise ValueError(f"the log names layer '{name}', which is no node of the model")

    def finish(self):
        """Puts the inserted nodes before the nodes they feed (topological order kept)."""
        before = {}
        for node, nodes in self.new_nodes:
            before.setdefault(id(node), []).extend(nodes)
        ordered = []
        for n in self.graph.node:
            ordered.extend(before.get(id(n), []))
            ordered.append(n)
        del self.graph.node[:]
        self.graph.node.extend(ordered)
        # Initializers no node reads any more (the float weights replaced).
        read = {i for n in self.graph.node for i in n.input}
        read |= {o.name for o in self.graph.output}
        keep = [t for t in self.graph.initializer if t.name not in self.replaced or t.name in read]
        del self.graph.initializer[:]
        self.graph.initializer.extend(keep)


def parse_log(text):
    """[(node, format, input scale, logged fp8 weight scale or None)]"""
    layers = []
    for m in LINE.finditer(text):
        w = m.group("wscale")
        layers.append((m.group("node"), m.group("fmt"), float(m.group("scale")),
                       float(w) if w else None))
    return layers


def rewrite(model, log_text, scale_factor=1.0, jitter_seed=None, jitter=1e-6):
    """Rewrites `model` in place; returns the number of layers quantized. `scale_factor`
    multiplies every input scale (to see how far the logged scales' rounding moves outputs);
    with `jitter_seed`, each quantized input first gets random per-channel offsets of `jitter`
    times its range (how far float32 noise of that size, e.g. another summation order, moves
    outputs through the rounding steps: the reference's own noise floor)."""
    layers = parse_log(log_text)
    rng = None if jitter_seed is None else np.random.default_rng(jitter_seed)
    r = Rewriter(model)
    done = set()
    recurrent = {}  # id(node) -> (node, format, input scale, [directions])
    for name, fmt, scale, logged_w in layers:
        # lower_recurrent's input projection of one direction of an LSTM / GRU / RNN:
        # NODE_d<d>_XW, X times that direction's W transposed.
        m = re.fullmatch(r"(.*)_d(\d+)_XW", name)
        if name not in r.by_name and m and m.group(1) in r.by_name and \
                r.by_name[m.group(1)].op_type in RECURRENT:
            node = r.by_name[m.group(1)]
            entry = recurrent.setdefault(id(node), (node, fmt, scale, []))
            if entry[1] != fmt or entry[2] != scale:
                raise ValueError(f"node '{node.name}': its directions are quantized differently")
            entry[3].append(int(m.group(2)))
            continue
        nodes = r.targets(name)
        fp8_scale = None
        factors = [None] * len(nodes)
        if fmt == "fp8":
            # One scale over the weights as vitrt quantized them: a packed q, k, v matrix's
            # three parts together, and with the factor it folded in where the logged scale
            # says it did (else the logged scale: close, not exact).
            def joint(fs):
                return fp8_weight_scale(max(r.folded_amax(n, f) for n, f in zip(nodes, fs)))

            fp8_scale = joint(factors)
            if logged_w is not None and abs(float(fp8_scale) - logged_w) > 1e-5 * logged_w:
                folded = [r.output_factor(n) for n in nodes]
                if any(f is not None for f in folded) and \
                        abs(float(joint(folded)) - logged_w) <= 1e-5 * logged_w:
                    factors, fp8_scale = folded, joint(folded)
                else:
                    fp8_scale = np.float32(logged_w)
            if len(nodes) == 1 and factors[0] is None and logged_w is None:
                fp8_scale = None
        for node, factor in zip(nodes, factors):
            if id(node) in done:
                raise ValueError(f"node '{node.name}' is quantized twice in the log")
            done.add(id(node))
            r.quantize_node_weights(node, fmt, fp8_scale, factor)
            r.fake_quant_input(node, fmt, scale * scale_factor,
                               None if rng is None else (rng, jitter))
    for node, fmt, scale, directions in recurrent.values():
        r.quantize_recurrent_weights(node, fmt, directions)
        r.fake_quant_input(node, fmt, scale * scale_factor,
                           None if rng is None else (rng, jitter))
    r.finish()
    return len(layers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("log", help="the output of vitrt build --precision int8|fp8 --verbose")
    parser.add_argument("output")
    args = parser.parse_args()
    model = onnx.load(args.model)
    with open(args.log) as f:
        text = f.read()
    try:
        n = rewrite(model, text)
    except ValueError as e:
        print(f"quant_reference: {e}", file=sys.stderr)
        return 1
    if n == 0:
        print(f"quant_reference: '{args.log}' names no quantized layer (the output of `vitrt "
              "build --precision int8|fp8 --verbose` is needed)", file=sys.stderr)
        return 1
    onnx.save(model, args.output, save_as_external_data=model.ByteSize() > 1.8e9)
    print(f"{n} quantized layers written into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
