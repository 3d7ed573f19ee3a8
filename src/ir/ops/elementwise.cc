// Schemas of the elementwise op family (placeholder until the family lands).
#include "ir/op_schema.h"

namespace vitrt {

void register_elementwise_schemas(OpRegistry& registry) { (void)registry; }

}  // namespace vitrt
