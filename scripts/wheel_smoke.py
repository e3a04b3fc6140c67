"""Smoke test of an installed batchai_kit wheel, run from outside any checkout.

Run by scripts/wheel-smoke (``./dev.sh wheel-smoke``) with the interpreter of a fresh virtual
environment holding only the wheel and its dependencies. Checks: the package imports from that
environment (not a checkout) with its data (py.typed, the API spec, the cntk_mnist recipe); the
embedded emulator starts; a short custom job runs on a cluster and its output comes back; the
journal names what was created. Prints one line per check; exits non-zero on the first failure.
"""

import sys
import tempfile
from pathlib import Path


def check(what: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        raise SystemExit(1)


def main(checkout: str) -> None:
    import batchai_kit as bk
    from batchai_kit.quickstart import recipe_dir

    package = Path(bk.__file__).resolve().parent
    check("imports from the virtual environment", Path(sys.prefix).resolve() in package.parents, str(package))
    check("not from the checkout", Path(checkout).resolve() not in package.parents)
    check("ships py.typed", (package / "py.typed").is_file())
    check("ships the Batch AI API spec", (package / "local" / "spec" / "BatchAI.json").is_file())
    recipe = recipe_dir()
    check("ships the cntk_mnist recipe", package in recipe.parents, str(recipe))

    with tempfile.TemporaryDirectory() as data:
        from batchai_kit._journal import Journal

        azure = bk.Azure.local(Path(data) / "emulator")
        check("the embedded emulator starts", azure.is_emulator, azure.arm_endpoint)
        with bk.Workspace(azure, "smoke", "smoke", location="eastus", cleanup="delete") as ws:
            share = ws.file_share("smoke", cleanup="delete")
            with share, ws.gpu_cluster("smoke", nodes=1, mounts=[share]) as cluster:
                job = cluster.submit(bk.CustomJob(name="hello", command="echo hello from the wheel"))
                lines: list[str] = []
                model = job.wait(stream="stdout.txt", on_line=lines.append, timeout=300)
                check("a short job succeeds", model.execution_state == "succeeded", model.execution_state)
                check("its live log streams", "hello from the wheel" in lines, repr(lines))
                check("its output comes back", "hello from the wheel" in job.read_text("stdout.txt"))
        kinds = {entry.kind for entry in Journal().entries()}  # in $BATCHAI_KIT_HOME
        check("the journal recorded the resources", {"workspace", "cluster", "job"} <= kinds, ", ".join(sorted(kinds)))
    print("wheel smoke test passed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
