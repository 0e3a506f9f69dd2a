// Excel I/O is left out of retail-repr's danfojs-node (shims/README.md): each entry point says so.
const leftOut = (name) => () => {
  throw new Error(
    `xlsx.${name}: Excel files are not supported here (the xlsx package on npm has published advisories, so retail-repr leaves it out; see shims/README.md). Save the sheet as CSV and use danfo's readCSV.`,
  );
};
module.exports = {
  read: leftOut("read"),
  readFile: leftOut("readFile"),
  writeFile: leftOut("writeFile"),
  utils: {
    sheet_to_json: leftOut("utils.sheet_to_json"),
    aoa_to_sheet: leftOut("utils.aoa_to_sheet"),
    book_new: leftOut("utils.book_new"),
    book_append_sheet: leftOut("utils.book_append_sheet"),
  },
};
