// Run a script on MicroPython's WebAssembly port (npm: @micropython/micropython-webassembly-pyscript)
// with every file of firmware_bridge/ unchanged in its file system.
//
//   node tests/micropython/run.mjs SCRIPT.py
//
// The files are laid out in MicroPython's in-memory file system as on a Pico:
// /lib/firmware_bridge/*.py (every file), /main.py (firmware_bridge/main.py), /lib/*.py (this folder's helpers, such
// as the stand-in `machine` module) and /vectors/*.hex (tests/data/vectors).
// The script's output goes to stdout; an uncaught Python exception prints its
// traceback on stderr and exits 1.
import fs from "node:fs";
import path from "node:path";
import url from "node:url";

const here = path.dirname(url.fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const pkg = path.join(
  process.env.MPY_WASM_DIR || path.join(repo, ".mpy-wasm"),
  "node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs",
);
const { loadMicroPython } = await import(url.pathToFileURL(pkg).href);

const script = process.argv[2];
const mp = await loadMicroPython({
  heapsize: 16 * 1024 * 1024,
  linebuffer: false,
  stdout: (data) => process.stdout.write(data),
  stderr: (data) => process.stderr.write(data),
});

function copyInto(srcDir, destDir, suffix) {
  try { mp.FS.mkdir(destDir); } catch (e) { /* exists */ }
  for (const name of fs.readdirSync(srcDir).sort()) {
    if (name.endsWith(suffix)) {
      mp.FS.writeFile(destDir + "/" + name, fs.readFileSync(path.join(srcDir, name)));
    }
  }
}
copyInto(path.join(here), "/lib", ".py");
copyInto(path.join(repo, "firmware_bridge"), "/lib/firmware_bridge", ".py");
copyInto(path.join(repo, "tests", "data", "vectors"), "/vectors", ".hex");
// deployed as :main.py on the board
mp.FS.writeFile("/main.py", fs.readFileSync(path.join(repo, "firmware_bridge", "main.py")));

try {
  mp.runPython(fs.readFileSync(script, "utf8"));
} catch (error) {
  if (error.name !== "PythonError") throw error;
  process.stderr.write(error.message + "\n");
  process.exit(1);
}
