// Schemas of fused vitrt-domain ops (fused_norm): none registered yet.
#include "ir/op_schema.h"

namespace vitrt {

void register_fused_norm_schemas(OpRegistry& registry) { (void)registry; }

}  // namespace vitrt
