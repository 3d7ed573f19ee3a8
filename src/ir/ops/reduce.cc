// Schemas of the reduce op family (placeholder until the family lands).
#include "ir/op_schema.h"

namespace vitrt {

void register_reduce_schemas(OpRegistry& registry) { (void)registry; }

}  // namespace vitrt
