// C++ element types for each DType, the arithmetic type each is computed in, conversions
// between them, and dispatch from a runtime DType to a template instantiation.
//
// float16 and bfloat16 are stored as 16-bit patterns and computed in float; every other type is
// computed in itself. Conversions never hit undefined behaviour: float -> integer saturates and
// maps NaN to 0 (ONNX leaves out-of-range casts undefined; a server must not trap on them).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "core/half.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt::cpu {

struct Float16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

template <typename T>
struct ComputeType {
  using type = T;
};
template <>
struct ComputeType<Float16> {
  using type = float;
};
template <>
struct ComputeType<BFloat16> {
  using type = float;
};
// The type an element of T is computed in.
template <typename T>
using compute_t = typename ComputeType<T>::type;

template <typename T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::kFloat32;
  if constexpr (std::is_same_v<T, double>) return DType::kFloat64;
  if constexpr (std::is_same_v<T, Float16>) return DType::kFloat16;
  if constexpr (std::is_same_v<T, BFloat16>) return DType::kBFloat16;
  if constexpr (std::is_same_v<T, int8_t>) return DType::kInt8;
  if constexpr (std::is_same_v<T, int16_t>) return DType::kInt16;
  if constexpr (std::is_same_v<T, int32_t>) return DType::kInt32;
  if constexpr (std::is_same_v<T, int64_t>) return DType::kInt64;
  if constexpr (std::is_same_v<T, uint8_t>) return DType::kUInt8;
  if constexpr (std::is_same_v<T, uint16_t>) return DType::kUInt16;
  if constexpr (std::is_same_v<T, uint32_t>) return DType::kUInt32;
  if constexpr (std::is_same_v<T, uint64_t>) return DType::kUInt64;
  if constexpr (std::is_same_v<T, bool>) return DType::kBool;
  return DType::kUndefined;
}

// Converts between arithmetic types (bool, integers, float, double) without undefined
// behaviour: floating -> integer truncates toward zero, saturates, and maps NaN to 0.
template <typename To, typename From>
inline To convert_arith(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (std::isnan(v)) return To(0);
    // The bounds are exact powers of two, so comparing in From is exact.
    constexpr From lo = static_cast<From>(std::numeric_limits<To>::min());
    constexpr From hi_excl = static_cast<From>(std::numeric_limits<To>::max() / 2 + 1) * From(2);
    if (v <= lo) return std::numeric_limits<To>::min();
    if (v >= hi_excl) return std::numeric_limits<To>::max();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

// Loads an element as its compute type.
template <typename T>
inline compute_t<T> load(T v) {
  if constexpr (std::is_same_v<T, Float16>) {
    return half_to_float(v.bits);
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    return bf16_to_float(v.bits);
  } else {
    return v;
  }
}

// Stores any arithmetic value as an element of T.
template <typename T, typename C>
inline T store(C v) {
  if constexpr (std::is_same_v<T, Float16>) {
    return Float16{float_to_half(convert_arith<float>(v))};
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    return BFloat16{float_to_bf16(convert_arith<float>(v))};
  } else {
    return convert_arith<T>(v);
  }
}

template <typename T>
struct TypeTag {
  using type = T;
};

template <typename... Ts>
struct TypeList {};

template <typename... A, typename... B>
constexpr TypeList<A..., B...> operator+(TypeList<A...>, TypeList<B...>) {
  return {};
}

inline constexpr TypeList<float, double, Float16, BFloat16> kFloatTypes{};
inline constexpr TypeList<int8_t, int16_t, int32_t, int64_t> kSignedIntTypes{};
inline constexpr TypeList<uint8_t, uint16_t, uint32_t, uint64_t> kUnsignedIntTypes{};
inline constexpr TypeList<bool> kBoolType{};
inline constexpr auto kIntTypes = kSignedIntTypes + kUnsignedIntTypes;
inline constexpr auto kSignedTypes = kFloatTypes + kSignedIntTypes;
inline constexpr auto kNumericTypes = kFloatTypes + kIntTypes;
inline constexpr auto kAllTypes = kNumericTypes + kBoolType;

template <typename... Ts>
std::string type_list_names(TypeList<Ts...>) {
  std::string out;
  ((out += (out.empty() ? "" : ", "), out += dtype_name(dtype_of<Ts>())), ...);
  return out;
}

// Calls fn(TypeTag<T>{}) for the T in `types` whose DType is `dtype` and returns its Status;
// an unsupported error naming `op` and the dtype when `types` does not hold it.
template <typename... Ts, typename Fn>
Status dispatch(TypeList<Ts...> types, DType dtype, const char* op, Fn&& fn) {
  Status status;
  const bool found =
      ((dtype == dtype_of<Ts>() ? (status = fn(TypeTag<Ts>{}), true) : false) || ...);
  if (!found) {
    return unsupported(op, " does not support dtype ", dtype_name(dtype),
                       " (supported: ", type_list_names(types), ")");
  }
  return status;
}

}  // namespace vitrt::cpu
