"""The outputs of a settled batch: the ZIP of images (in parts when large) and the Excel report."""

from pipeline.packager.packaging import Package, PackagingError, package_batch

__all__ = ["Package", "PackagingError", "package_batch"]
