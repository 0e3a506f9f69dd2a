// The library as notebooks see it: `import * as rr from "../dist/src"`.
export { tf } from "./engine/tf";
export * from "./engine/backend";
export * from "./engine/info";
export * from "./config/profiles";
export * from "./report/notebook";
export * from "./report/plot";
export * from "./report/table";
export * from "./util/progress";
export { paths } from "./util/paths";
export * from "./engine/microbench";
export * from "./report/metrics";
