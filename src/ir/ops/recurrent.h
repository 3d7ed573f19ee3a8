// ONNX's recurrent ops (RNN, GRU, LSTM): what a node's attributes and weights say, checked once
// for the schema's shape inference and for the lowering that runs them
// (src/passes/lower_recurrent.cc). No backend has a kernel for them: the lowering unrolls the
// sequence into GEMMs and elementwise ops that every backend runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "vitrt/status.h"

namespace vitrt {

enum class RecurrentKind { kRnn, kGru, kLstm };

// One activation function of the cell, with the alpha / beta it takes (ONNX's optional
// activations: Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign,
// Softplus, besides Relu, Tanh and Sigmoid).
struct RecurrentActivation {
  std::string name;  // as ONNX spells it: "Sigmoid", "Tanh", ...
  float alpha = 0.0f;
  float beta = 0.0f;
};

struct RecurrentSpec {
  RecurrentKind kind = RecurrentKind::kLstm;
  int gates = 4;                     // LSTM 4 (i, o, f, c), GRU 3 (z, r, h), RNN 1
  int num_directions = 1;            // 2 for "bidirectional"
  bool reverse = false;              // "reverse" (one direction, last step first)
  int64_t hidden = 0;                // hidden_size, or R's last dim when the attribute is absent
  int64_t input_size = 0;            // W's last dim; 0 where W's shape is not known
  int64_t layout = 0;                // 0: X [seq, batch, input]; 1: X [batch, seq, input]
  std::optional<float> clip;         // the clip attribute: gate inputs bounded to [-clip, clip]
  bool input_forget = false;         // LSTM: couple the input and forget gates
  bool linear_before_reset = false;  // GRU
  // The activations per direction: LSTM (f, g, h), GRU (f, g), RNN (f); forward's first.
  std::vector<std::vector<RecurrentActivation>> activations;
};

// Input positions: X, W, R, B, sequence_lens, initial_h, and LSTM's initial_c, P.
enum RecurrentInput : int {
  kRecX = 0,
  kRecW = 1,
  kRecR = 2,
  kRecB = 3,
  kRecSeqLens = 4,
  kRecInitialH = 5,
  kRecInitialC = 6,
  kRecPeepholes = 7
};

bool is_recurrent_op(const Node& node);

// Parses and checks `node`'s attributes against W's and R's shapes where known (`w` / `r` null
// otherwise). Errors name the node and the attribute or input.
Result<RecurrentSpec> parse_recurrent(const Node& node, const std::vector<int64_t>* w,
                                      const std::vector<int64_t>* r);
// The same, with W's and R's shapes read off `graph` where every dim of them is static.
Result<RecurrentSpec> parse_recurrent(const Graph& graph, const Node& node);

}  // namespace vitrt
