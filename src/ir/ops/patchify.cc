// Schemas of fused vitrt-domain ops (patchify): none registered yet.
#include "ir/op_schema.h"

namespace vitrt {

void register_patchify_schemas(OpRegistry& registry) { (void)registry; }

}  // namespace vitrt
