// Schemas of the shape_op op family (placeholder until the family lands).
#include "ir/op_schema.h"

namespace vitrt {

void register_shape_op_schemas(OpRegistry& registry) {
  (void)registry;
}

}  // namespace vitrt
