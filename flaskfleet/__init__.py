"""flaskfleet: provision hosts and deploy Flask (any WSGI) apps with Fabric/Invoke and Ansible.

The package shares one inventory and one release logic with the ``flaskfleet.cloud`` collection;
see ``docs/architecture.md``.
"""

__version__ = "0.1.0"
