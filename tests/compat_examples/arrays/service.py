"""numpy arrays in and out of entrypoints: JSON lists on the wire, ndarrays in the code."""

from daeploy import service
from daeploy.data_types import ArrayInput, ArrayOutput


@service.entrypoint
def elementwise_sum(first: ArrayInput, second: ArrayInput) -> ArrayOutput:
    # Both arguments arrive as numpy arrays, so + adds element by element.
    return first + second


@service.entrypoint
def transpose(matrix: ArrayInput) -> ArrayOutput:
    # A nested list becomes a 2-D array, and the result goes back as a nested list.
    return matrix.T


if __name__ == "__main__":
    service.run()
