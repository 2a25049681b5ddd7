"""Foreign ResNeXt/ResNet implementations, written as other authors write them, for the auditor's tests."""
