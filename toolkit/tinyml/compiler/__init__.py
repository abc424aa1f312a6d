"""The compiler wing: the TFLite reader (`ir`), the memory planner (`plan`), model statistics (`stats`) and the C
generator (`codegen`). It imports nothing from `device`, `train` or `cli`, and neither TensorFlow nor pyserial."""
