# launcher/: keelrun (see issue "keelrun and placement").
