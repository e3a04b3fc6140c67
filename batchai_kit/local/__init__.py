"""The embedded emulator of Azure Batch AI and Azure Files.

Never imported by the library's Azure code paths.
"""
