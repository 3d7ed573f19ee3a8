// Schemas of the linear op family (placeholder until the family lands).
#include "ir/op_schema.h"

namespace vitrt {

void register_linear_schemas(OpRegistry& registry) {
  (void)registry;
}

}  // namespace vitrt
