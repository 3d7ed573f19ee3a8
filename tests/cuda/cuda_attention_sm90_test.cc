// The wgmma attention kernel (cuda/attention_sm90.h) launched directly, against the float64
// reference on the same 16-bit inputs: every key bucket (64, 80, 128, 208, 256) and the
// lengths next to their edges, queries past one 64-row tile, packed and separate q/k/v, masks
// of both layouts, the causal form, fully masked rows (NaN, or 0 with zero_masked_rows),
// E4M3 codes out and E4M3 q, k, v in (against float64 on what the codes decode to).
// launch_attention's own choice among its forms is covered by the engine-level CudaAttention
// tests, whose large-grid cases run this kernel where it is available.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/float8.h"
#include "core/half.h"
#include "cuda/attention_sm90.h"
#include "cuda_test_util.h"
#include "testing/attention_op.h"

namespace vitrt::testing {
namespace {

struct Sm90Case {
  int64_t b, sq, sk, heads;
  bool packed = false;  // q, k, v as views of one [B, S, 3 * H * 64] tensor (sq == sk)
  bool causal = false;
  int mask = 0;  // 0 none, 2 one [Sq, Sk] mask, 4 a [B, H, Sq, Sk] one
  float amp = 1.0f;
  bool masked_row = false;  // mask row 1 fully -inf (mask != 0)
  bool zero_rows = false;
  float out_scale = 0.0f;  // > 0: E4M3 codes out
  float in_scale = 0.0f;   // > 0: q, k, v in as E4M3 codes of x / in_scale (fp8 plans)
  // With out_scale: int8 codes clamped at qmin instead of E4M3 (an int8 plan's attention).
  bool int8_out = false;
  int qmin = -127;
  int tiles = 0;  // > 0: query tiles a block forced (AttentionArgs::sm90_tiles_per_block)
};

std::string describe(const Sm90Case& c) {
  return "B " + std::to_string(c.b) + " Sq " + std::to_string(c.sq) + " Sk " +
         std::to_string(c.sk) + " H " + std::to_string(c.heads) + (c.packed ? " packed" : "") +
         (c.causal ? " causal" : "") + " mask " + std::to_string(c.mask) +
         (c.masked_row ? " masked row" : "") + (c.zero_rows ? " zero_masked_rows" : "") +
         (c.out_scale > 0.0f ? (c.int8_out ? " int8 codes" : " codes") : "") +
         (c.in_scale > 0.0f ? " E4M3 in" : "") +
         (c.tiles > 0 ? " tiles " + std::to_string(c.tiles) : "");
}

// x's E4M3 codes of x / scale, and x replaced by what they decode to (the kernel's inputs).
std::vector<float> encode_e4m3(Tensor& x, float scale) {
  std::vector<float> codes(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    const uint8_t code = float_to_e4m3(x.data<float>()[i] / scale);
    codes[static_cast<size_t>(i)] = code;
    x.data<float>()[i] = e4m3_to_float(code) * scale;
  }
  return codes;
}

// Uploads bytes (one per float of `codes`).
bool upload_codes(const std::vector<float>& codes, DeviceBuffer* buf) {
  std::vector<uint8_t> bytes(codes.begin(), codes.end());
  if (cudaMalloc(&buf->ptr, bytes.size()) != cudaSuccess) return false;
  return cudaMemcpy(buf->ptr, bytes.data(), bytes.size(), cudaMemcpyHostToDevice) == cudaSuccess;
}

float from16(uint16_t x, bool fp16) {
  return fp16 ? half_to_float(x) : bf16_to_float(x);
}

std::vector<float> values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

// Runs one case in fp16 or bf16; inputs are bf16-rounded (exact in both types), so the
// reference sees the kernel's inputs.
void run_case(const Sm90Case& c, bool fp16) {
  SCOPED_TRACE(describe(c) + (fp16 ? " fp16" : " bf16"));
  constexpr int64_t kDh = 64;
  const int64_t d = c.heads * kDh;
  AttentionOp op{.heads = c.heads,
                 .causal = c.causal,
                 .output_scale = c.out_scale,
                 .zero_masked_rows = c.zero_rows};
  Tensor q, k, v, packed;
  std::vector<float> q_codes, k_codes, v_codes, packed_codes;
  const bool codes_in = c.in_scale > 0.0f;
  if (c.packed) {
    packed = bf16_random({c.b, c.sq, 3 * d}, 7 + c.sq, -c.amp, c.amp);
    if (codes_in) packed_codes = encode_e4m3(packed, c.in_scale);
    const auto parts = unpack_qkv(packed);
    q = parts[0];
    k = parts[1];
    v = parts[2];
  } else {
    q = bf16_random({c.b, c.sq, d}, 11 + c.sq, -c.amp, c.amp);
    k = bf16_random({c.b, c.sk, d}, 13 + c.sk, -c.amp, c.amp);
    v = bf16_random({c.b, c.sk, d}, 17 + c.sk, -1.0f, 1.0f);
    if (codes_in) {
      q_codes = encode_e4m3(q, c.in_scale);
      k_codes = encode_e4m3(k, c.in_scale);
      v_codes = encode_e4m3(v, c.in_scale);
    }
  }
  Tensor mask;
  if (c.mask != 0) {
    mask = bf16_random(c.mask == 4 ? std::vector<int64_t>{c.b, c.heads, c.sq, c.sk}
                                   : std::vector<int64_t>{c.sq, c.sk},
                       19, -3.0f, 0.0f);
    if (c.masked_row) {
      const int64_t planes = mask.numel() / (c.sq * c.sk);
      for (int64_t p = 0; p < planes; ++p)
        for (int64_t j = 0; j < c.sk; ++j)
          mask.data<float>()[(p * c.sq + 1) * c.sk + j] = -INFINITY;
    }
  }
  Tensor expected = attention_reference(op, q, k, v, c.mask != 0 ? &mask : nullptr);

  const cuda::Elt type = fp16 ? cuda::Elt::kF16 : cuda::Elt::kBF16;
  cuda::AttentionArgs a;
  DeviceBuffer dq, dk, dv, dm, dout;
  const size_t out_elems = static_cast<size_t>(c.b * c.sq * d);
  ASSERT_EQ(cudaMalloc(&dout.ptr, out_elems * 2), cudaSuccess);
  if (codes_in) {
    a.in_scale = c.in_scale;
    if (c.packed) {
      ASSERT_TRUE(upload_codes(packed_codes, &dq));
      a.q = dq.ptr;
      a.k = static_cast<uint8_t*>(dq.ptr) + d;
      a.v = static_cast<uint8_t*>(dq.ptr) + 2 * d;
      a.q_row_stride = a.k_row_stride = a.v_row_stride = 3 * d;
    } else {
      ASSERT_TRUE(upload_codes(q_codes, &dq));
      ASSERT_TRUE(upload_codes(k_codes, &dk));
      ASSERT_TRUE(upload_codes(v_codes, &dv));
      a.q = dq.ptr;
      a.k = dk.ptr;
      a.v = dv.ptr;
      a.q_row_stride = a.k_row_stride = a.v_row_stride = d;
    }
  } else if (c.packed) {
    ASSERT_TRUE(upload(type, values(packed), &dq));
    a.q = dq.ptr;
    a.k = static_cast<uint16_t*>(dq.ptr) + d;
    a.v = static_cast<uint16_t*>(dq.ptr) + 2 * d;
    a.q_row_stride = a.k_row_stride = a.v_row_stride = 3 * d;
  } else {
    ASSERT_TRUE(upload(type, values(q), &dq));
    ASSERT_TRUE(upload(type, values(k), &dk));
    ASSERT_TRUE(upload(type, values(v), &dv));
    a.q = dq.ptr;
    a.k = dk.ptr;
    a.v = dv.ptr;
    a.q_row_stride = a.k_row_stride = a.v_row_stride = d;
  }
  if (c.mask != 0) {
    ASSERT_TRUE(upload(type, values(mask), &dm));
    a.mask = dm.ptr;
    if (c.mask == 4) {
      a.mask_strides[0] = c.heads * c.sq * c.sk;
      a.mask_strides[1] = c.sq * c.sk;
    }
    a.mask_strides[2] = c.sk;
    a.mask_strides[3] = 1;
  }
  a.out = dout.ptr;
  a.batch = c.b;
  a.heads = c.heads;
  a.sq = c.sq;
  a.sk = c.sk;
  a.dh = a.dv = kDh;
  a.scale = 0.125f;
  a.causal = c.causal;
  a.zero_masked_rows = c.zero_rows;
  a.out_scale = c.out_scale;
  a.out_int8 = c.int8_out;
  a.out_qmin = c.qmin;
  a.sm90_tiles_per_block = c.tiles;
  ASSERT_TRUE(cuda::attention_sm90_supports(type, a));
  ASSERT_EQ(cuda::launch_attention_sm90(type, a, nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  if (c.out_scale > 0.0f && c.int8_out) {
    // int8 codes of the float64 result (NaN rows 0): within one code of it everywhere (the
    // 16-bit P moves the result by about 1e-3 of its scale, well under a step here).
    std::vector<int8_t> codes(out_elems);
    ASSERT_EQ(cudaMemcpy(codes.data(), dout.ptr, out_elems, cudaMemcpyDeviceToHost), cudaSuccess);
    int64_t far = 0, differ = 0;
    for (size_t i = 0; i < out_elems; ++i) {
      const int want = int8_code_of(expected.data<float>()[i], c.out_scale, c.qmin);
      differ += codes[i] != want;
      far += std::abs(codes[i] - want) > 1;
    }
    EXPECT_EQ(far, 0);
    EXPECT_LE(differ, static_cast<int64_t>(out_elems) / 4);
    return;
  }
  if (c.out_scale > 0.0f) {
    std::vector<uint8_t> codes(out_elems);
    ASSERT_EQ(cudaMemcpy(codes.data(), dout.ptr, out_elems, cudaMemcpyDeviceToHost), cudaSuccess);
    Tensor actual = Tensor::empty(DType::kUInt8, expected.shape());
    Tensor want = Tensor::empty(DType::kUInt8, expected.shape());
    for (size_t i = 0; i < out_elems; ++i) {
      actual.data<uint8_t>()[i] = codes[i];
      want.data<uint8_t>()[i] = float_to_e4m3(expected.data<float>()[i] / c.out_scale);
    }
    // One E4M3 step, plus half a code unit near zero: P is rounded to 16 bits before P V, so the
    // output differs from float64 by about 1e-3 of its scale (the float cases' bound is 2e-2),
    // which near zero is more than a step.
    EXPECT_TRUE(codes_near(actual, want, 0.5));
    return;
  }
  std::vector<uint16_t> back(out_elems);
  ASSERT_EQ(cudaMemcpy(back.data(), dout.ptr, out_elems * 2, cudaMemcpyDeviceToHost), cudaSuccess);
  Tensor actual = Tensor::empty(DType::kFloat32, expected.shape());
  for (size_t i = 0; i < out_elems; ++i) actual.data<float>()[i] = from16(back[i], fp16);
  if (c.masked_row) {
    // Row 1 of every (batch, head): NaN as PyTorch gives, or 0 with zero_masked_rows; the
    // reference's NaN rows are left out of the comparison below.
    for (int64_t bb = 0; bb < c.b; ++bb)
      for (int64_t e = 0; e < d; ++e) {
        const float x = actual.data<float>()[(bb * c.sq + 1) * d + e];
        if (c.zero_rows) {
          EXPECT_EQ(x, 0.0f);
        } else {
          EXPECT_TRUE(std::isnan(x)) << x;
        }
        actual.data<float>()[(bb * c.sq + 1) * d + e] = 0.0f;
        expected.data<float>()[(bb * c.sq + 1) * d + e] = 0.0f;
      }
  }
  EXPECT_TRUE(outputs_agree(actual, expected, fp16 ? "fp16" : "bf16"));
}

TEST(CudaAttentionSm90, MatchesFloat64) {
  VITRT_REQUIRE_GPU();
  if (!cuda::attention_sm90_available()) {
    GTEST_SKIP() << "the wgmma attention kernel needs compute capability 9.0 and CUTLASS's headers";
  }
  const Sm90Case cases[] = {
      // ViT's 197 tokens (bucket 208), packed as the fused export writes it, with a wide range.
      {.b = 3, .sq = 197, .sk = 197, .heads = 4, .packed = true, .amp = 3.0f},
      // CLIP vision's 50 (bucket 64) and text's causal 77 (bucket 80).
      {.b = 2, .sq = 50, .sk = 50, .heads = 3, .packed = true},
      {.b = 2, .sq = 77, .sk = 77, .heads = 2, .causal = true},
      // Bucket edges: 64/65, 80/81, 128/129, 208/209, 256; one key; queries != keys.
      {.b = 1, .sq = 64, .sk = 64, .heads = 2},
      {.b = 1, .sq = 65, .sk = 65, .heads = 2, .amp = 2.0f},
      {.b = 1, .sq = 81, .sk = 81, .heads = 1},
      {.b = 1, .sq = 128, .sk = 128, .heads = 1},
      {.b = 1, .sq = 129, .sk = 129, .heads = 1},
      {.b = 1, .sq = 208, .sk = 208, .heads = 1},
      {.b = 2, .sq = 209, .sk = 209, .heads = 1, .amp = 2.0f},
      {.b = 1, .sq = 256, .sk = 256, .heads = 2, .amp = 2.0f},
      {.b = 2, .sq = 3, .sk = 1, .heads = 2},
      // The class token's query rows alone against every key (select_rows_early): ViT's and
      // DeiT's last attention.
      {.b = 3, .sq = 1, .sk = 197, .heads = 4, .amp = 3.0f},
      {.b = 2, .sq = 2, .sk = 197, .heads = 2, .mask = 4},
      {.b = 1, .sq = 150, .sk = 37, .heads = 2},
      {.b = 1, .sq = 20, .sk = 230, .heads = 1, .causal = true},
      // Masks: one shared [Sq, Sk] mask, one per batch and head, with a fully masked row.
      {.b = 2, .sq = 100, .sk = 100, .heads = 2, .mask = 2},
      {.b = 2, .sq = 197, .sk = 197, .heads = 2, .mask = 4, .amp = 2.0f},
      {.b = 2, .sq = 70, .sk = 70, .heads = 2, .mask = 2, .masked_row = true},
      {.b = 2, .sq = 70, .sk = 70, .heads = 2, .mask = 4, .masked_row = true, .zero_rows = true},
      // E4M3 codes out (the fp8 plan's attention -> proj edge).
      {.b = 2, .sq = 197, .sk = 197, .heads = 2, .packed = true, .out_scale = 0.01f},
      {.b = 1, .sq = 77, .sk = 77, .heads = 2, .causal = true, .out_scale = 0.004f},
      // int8 codes out (the int8 plan's attention -> proj edge): ViT's packed 197 tokens, both
      // clamps with a scale where many clamp, a mask with a fully masked row (codes 0), CLIP
      // text's causal 77 and vision's 50.
      {.b = 2,
       .sq = 197,
       .sk = 197,
       .heads = 2,
       .packed = true,
       .out_scale = 1.0f / 127,
       .int8_out = true},
      {.b = 2,
       .sq = 197,
       .sk = 197,
       .heads = 2,
       .packed = true,
       .out_scale = 1.0f / 1024,
       .int8_out = true,
       .qmin = -128},
      {.b = 2,
       .sq = 70,
       .sk = 70,
       .heads = 2,
       .mask = 4,
       .masked_row = true,
       .out_scale = 1.0f / 200,
       .int8_out = true},
      {.b = 1,
       .sq = 77,
       .sk = 77,
       .heads = 2,
       .causal = true,
       .out_scale = 1.0f / 127,
       .int8_out = true,
       .qmin = -128},
      {.b = 2,
       .sq = 50,
       .sk = 50,
       .heads = 3,
       .packed = true,
       .out_scale = 1.0f / 127,
       .int8_out = true},
      // E4M3 q, k, v in (the fp8 plan's qkv -> attention edge): ViT's packed 197 tokens with
      // codes out as in the plan, every bucket, separate inputs, masks, the causal form, one
      // query row.
      {.b = 3,
       .sq = 197,
       .sk = 197,
       .heads = 4,
       .packed = true,
       .amp = 3.0f,
       .in_scale = 3.0f / 400},
      {.b = 2,
       .sq = 197,
       .sk = 197,
       .heads = 2,
       .packed = true,
       .out_scale = 0.01f,
       .in_scale = 1.0f / 448},
      {.b = 2, .sq = 50, .sk = 50, .heads = 3, .packed = true, .in_scale = 0.01f},
      {.b = 2, .sq = 77, .sk = 77, .heads = 2, .causal = true, .in_scale = 0.003f},
      {.b = 1, .sq = 65, .sk = 65, .heads = 2, .amp = 2.0f, .in_scale = 0.005f},
      {.b = 1, .sq = 129, .sk = 129, .heads = 1, .in_scale = 0.004f},
      // E4M3 in at the 128 bucket, and codes in and out at sequences that end early in the 208
      // bucket or fill it.
      {.b = 2, .sq = 100, .sk = 100, .heads = 2, .amp = 3.0f, .in_scale = 0.008f},
      {.b = 1, .sq = 128, .sk = 128, .heads = 2, .out_scale = 0.01f, .in_scale = 0.004f},
      {.b = 1,
       .sq = 150,
       .sk = 150,
       .heads = 2,
       .amp = 3.0f,
       .out_scale = 0.01f,
       .in_scale = 0.008f},
      {.b = 1,
       .sq = 208,
       .sk = 208,
       .heads = 1,
       .amp = 3.0f,
       .out_scale = 0.01f,
       .in_scale = 0.008f},
      {.b = 1, .sq = 256, .sk = 256, .heads = 2, .amp = 2.0f, .in_scale = 0.006f},
      {.b = 2, .sq = 3, .sk = 1, .heads = 2, .in_scale = 0.002f},
      {.b = 3, .sq = 1, .sk = 197, .heads = 4, .amp = 3.0f, .in_scale = 0.01f},
      {.b = 1, .sq = 150, .sk = 37, .heads = 2, .in_scale = 0.004f},
      {.b = 2, .sq = 197, .sk = 197, .heads = 2, .mask = 4, .amp = 2.0f, .in_scale = 0.005f},
      {.b = 2,
       .sq = 70,
       .sk = 70,
       .heads = 2,
       .mask = 4,
       .masked_row = true,
       .zero_rows = true,
       .in_scale = 0.003f},
  };
  for (const Sm90Case& c : cases) {
    for (const bool fp16 : {true, false}) run_case(c, fp16);
  }
}

// A block works through up to four query tiles with K and V loaded once, the next tile's Q landing
// while one is worked on; at the shapes above the launcher gives each block one tile (too few
// blocks for more), so here 2, 3 and 4 are forced: the second Q buffer, the copies of Q two tiles
// ahead, a last tile past the sequence's end, and the output rows of every tile.
TEST(CudaAttentionSm90, EveryTileCountMatchesFloat64) {
  VITRT_REQUIRE_GPU();
  if (!cuda::attention_sm90_available()) {
    GTEST_SKIP() << "the wgmma attention kernel needs compute capability 9.0 and CUTLASS's headers";
  }
  for (const int tiles : {2, 3, 4}) {
    const Sm90Case cases[] = {
        {.b = 2, .sq = 197, .sk = 197, .heads = 3, .packed = true, .amp = 3.0f, .tiles = tiles},
        {.b = 2,
         .sq = 197,
         .sk = 197,
         .heads = 2,
         .packed = true,
         .out_scale = 0.01f,
         .in_scale = 1.0f / 448,
         .tiles = tiles},
        {.b = 1,
         .sq = 197,
         .sk = 197,
         .heads = 2,
         .packed = true,
         .out_scale = 1.0f / 127,
         .int8_out = true,
         .tiles = tiles},
        {.b = 2,
         .sq = 77,
         .sk = 77,
         .heads = 2,
         .causal = true,
         .in_scale = 0.003f,
         .tiles = tiles},
        {.b = 1, .sq = 150, .sk = 37, .heads = 2, .tiles = tiles},
        {.b = 2,
         .sq = 130,
         .sk = 130,
         .heads = 2,
         .mask = 4,
         .masked_row = true,
         .in_scale = 0.004f,
         .tiles = tiles},
    };
    for (const Sm90Case& c : cases) {
      for (const bool fp16 : {true, false}) run_case(c, fp16);
    }
  }
}

// Outside its range the launcher refuses (the caller runs another form) instead of running.
TEST(CudaAttentionSm90, RefusesWhatItDoesNotTake) {
  cuda::AttentionArgs a;
  a.batch = a.heads = 1;
  a.sq = a.sk = 197;
  a.dh = a.dv = 64;
  a.q_row_stride = a.k_row_stride = a.v_row_stride = 64;
  a.scale = 0.125f;
  alignas(16) static uint16_t buffer[8];
  a.q = a.k = a.v = a.out = buffer;
  EXPECT_FALSE(cuda::attention_sm90_supports(cuda::Elt::kF32, a));
  cuda::AttentionArgs longer = a;
  longer.sk = 257;
  EXPECT_FALSE(cuda::attention_sm90_supports(cuda::Elt::kF16, longer));
  cuda::AttentionArgs wide = a;
  wide.dh = wide.dv = 128;
  EXPECT_FALSE(cuda::attention_sm90_supports(cuda::Elt::kF16, wide));
  cuda::AttentionArgs quant = a;
  quant.quant_probs = true;
  EXPECT_FALSE(cuda::attention_sm90_supports(cuda::Elt::kF16, quant));
  cuda::AttentionArgs odd = a;
  odd.q_row_stride = 68 + 2;
  EXPECT_FALSE(cuda::attention_sm90_supports(cuda::Elt::kF16, odd));
  // E4M3 codes in: rows of whole 16-byte chunks (8 16-bit elements are not enough).
  cuda::AttentionArgs codes = a;
  codes.in_scale = 0.01f;
  codes.q_row_stride = codes.k_row_stride = codes.v_row_stride = 64 + 8;
  EXPECT_FALSE(cuda::attention_sm90_supports(cuda::Elt::kF16, codes));
  codes.in_scale = INFINITY;
  codes.q_row_stride = codes.k_row_stride = codes.v_row_stride = 64;
  EXPECT_FALSE(cuda::attention_sm90_supports(cuda::Elt::kF16, codes));
  EXPECT_EQ(cuda::launch_attention_sm90(cuda::Elt::kF32, a, nullptr), cudaErrorNotSupported);
}

}  // namespace
}  // namespace vitrt::testing
