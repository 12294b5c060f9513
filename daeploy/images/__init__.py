"""Images without Docker: a service folder becomes an OCI image on the user's machine.

The runtime image is the base, one layer holds the dependencies (wheels for the cluster's
platform), one the code; layers are content-addressed and cached, so a code change uploads
only the code layer. ``reference`` names images, ``registry`` speaks the OCI distribution API,
``layers`` writes reproducible layers, ``base`` reads what the base image already has,
``dependencies`` installs requirements for the target platform and ``build`` puts it together.
"""
