"""numpy and pandas in a folder deploy (tests/cluster/test_folder_images.py and
bench/folder_images.py); EDIT changes between two deploys, so only the code layer differs."""

import numpy as np
import pandas as pd

from daeploy import service


@service.entrypoint
def stats(values: list[float]) -> dict:
    frame = pd.DataFrame({"v": values})
    return {"mean": float(np.mean(values)), "max": float(frame["v"].max()), "edit": EDIT}


EDIT = 0

if __name__ == "__main__":
    service.run()
