// The vitrt release version, recorded in plans and printed by `vitrt --version`.
#pragma once

namespace vitrt {

inline constexpr const char* kVitrtVersion = "0.1.0";

}  // namespace vitrt
