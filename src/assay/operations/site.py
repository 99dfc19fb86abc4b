"""One instance's stores as the operations commands see them: its database and blob store,
named by the same settings the server reads."""

from __future__ import annotations

from dataclasses import dataclass

from assay.instance.layout import DataDir
from assay.registry.service import open_blobs
from assay.settings import Settings
from assay.storage.blobs import BlobStore
from assay.storage.database import database_url
from assay.storage.inventory import Inventory

__all__ = ["Site", "open_blobs"]


@dataclass
class Site:
    settings: Settings
    blobs: BlobStore
    inventory: Inventory

    @property
    def data_dir(self) -> DataDir:
        return DataDir(self.settings.data_dir)

    @property
    def database_url(self) -> str:
        return database_url(self.settings.database_url, self.settings.data_dir)

    @classmethod
    def open(cls, settings: Settings) -> Site:
        url = database_url(settings.database_url, settings.data_dir)
        return cls(settings, open_blobs(settings), Inventory.open(url))

    def close(self) -> None:
        self.inventory.close()
        self.blobs.close()
