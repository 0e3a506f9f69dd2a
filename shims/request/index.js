// Reading a table from a URL is left out of retail-repr's danfojs-node (shims/README.md).
function request(options) {
  const url = typeof options === "string" ? options : options && options.url;
  throw new Error(
    `request ${url}: reading tables from URLs is not supported here (the deprecated request package brings published advisories, so retail-repr leaves it out; see shims/README.md). Download the file and read it from disk.`,
  );
}
request.get = request;
module.exports = request;
