// Schemas of the normalization op family (placeholder until the family lands).
#include "ir/op_schema.h"

namespace vitrt {

void register_normalization_schemas(OpRegistry& registry) { (void)registry; }

}  // namespace vitrt
