#include "trace_root/trace.hpp"
