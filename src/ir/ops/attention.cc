// Schemas of fused vitrt-domain ops (attention): none registered yet.
#include "ir/op_schema.h"

namespace vitrt {

void register_attention_schemas(OpRegistry& registry) { (void)registry; }

}  // namespace vitrt
