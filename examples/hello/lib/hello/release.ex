defmodule Hello.Release do
  @moduledoc """
  Tasks run from the release, without Mix: `bin/hello eval "Hello.Release.migrate()"`, which is what
  `deliver migrate production` runs on every host. An app with Ecto would run `Ecto.Migrator` here.
  """

  @app :hello

  def migrate do
    Application.load(@app)
    IO.puts("#{@app} #{Application.spec(@app, :vsn)}: no database, nothing to migrate")
  end
end
