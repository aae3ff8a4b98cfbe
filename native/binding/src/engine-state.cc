#include "engine-state.h"

namespace deepinfer_node {

EngineState::EngineState(di_engine* e) : engine(e) { di_engine_get_info(engine, &info); }

EngineState::~EngineState() { di_engine_free(engine); }

}  // namespace deepinfer_node
