// danfojs-node computes with tfjs: give it the one copy the project has (shims/README.md).
module.exports = require("@tensorflow/tfjs");
