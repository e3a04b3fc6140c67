"""The build step setup.cfg cannot express: the cntk_mnist recipe goes into the package.

The repository keeps the recipe at ``recipes/cntk_mnist/`` (a reader finds it there; the tests
and ``./dev.sh`` use it in place). A wheel carries a copy as ``batchai_kit/_recipes/cntk_mnist/``
so that ``pip install batchai_kit`` then ``batchai-kit quickstart`` works without a checkout.
Editable installs copy nothing: ``batchai_kit.quickstart.recipe_dir()`` finds the checkout's
``recipes/cntk_mnist`` itself. Everything else is declared in setup.cfg.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RECIPE = Path("recipes") / "cntk_mnist"
PACKAGED = Path("batchai_kit") / "_recipes" / "cntk_mnist"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


class BuildPyWithRecipe(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / PACKAGED
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(RECIPE, target, ignore=IGNORED)

    def get_outputs(self, include_bytecode=True):
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs += [str(Path(self.build_lib) / PACKAGED / path.relative_to(RECIPE))
                        for path in sorted(RECIPE.rglob("*")) if path.is_file() and "__pycache__" not in path.parts]
        return outputs


setup(cmdclass={"build_py": BuildPyWithRecipe})
